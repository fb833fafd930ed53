"""The offline demo: the emulator, the sample roster and simulated people."""
