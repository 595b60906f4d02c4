"""The live layer: the WebSocket hub (the only code that frames socket messages), the
socket route, and the seat board that projects bus events onto the agents' consoles."""
