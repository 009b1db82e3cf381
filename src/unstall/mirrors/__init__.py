"""`unstall mirrors`: rank Go, pip and npm sources by what they deliver; apply and undo."""
