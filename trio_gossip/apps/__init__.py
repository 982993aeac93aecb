"""Floor 5: the programs built on the library: the agent, the dissector, the simulator and
demo, the command line."""
