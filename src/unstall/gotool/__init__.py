"""The go toolchain: its environment, and running it behind the local proxy."""
