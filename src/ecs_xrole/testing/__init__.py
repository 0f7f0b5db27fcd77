"""Loopback stand-ins for AWS and the ECS credentials endpoint, for tests and the demo."""
