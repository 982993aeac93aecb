"""The Trio shell around the pure membership core (floor 4): tasks, timers, sockets."""
