"""NetSuite's wire protocol: endpoint URLs, JSON shapes of the seed samples, client assertions.

Pure code shared by the client and the emulator; nothing here does I/O.
"""
