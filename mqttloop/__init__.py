"""paho-mqtt driven by the asyncio event loop: the one module that imports paho (`connection`)."""
