"""Floor 4: the Trio shell. One writer task per node carries out what the core decides;
the facades (the node, the KV store, the ring client, the lifecycler) live here."""
