"""Tests of certrotor.store on real SQLite files and a real PostgreSQL server."""
