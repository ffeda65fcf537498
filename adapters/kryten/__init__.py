"""The Kryten ecosystem over NATS: the robot (CyTube commands and events) and the economy."""
