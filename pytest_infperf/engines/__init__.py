"""Engine adapters behind one Protocol (base.Engine); each imports its heavy library only when loaded."""
