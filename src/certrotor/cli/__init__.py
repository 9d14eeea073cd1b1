"""The ``certrotor`` command line: parses input, calls services, prints tables or JSON."""
