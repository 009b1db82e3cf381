"""unstall fleet: run a command on many hosts over SSH (inventory, executor, states, run store)."""
