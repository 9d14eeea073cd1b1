"""certrotor's own HTTP services (the receiver of signed NetSuite requests)."""
