"""The ring on a node: lookups from the local copy and the lifecycler that registers an
instance."""
