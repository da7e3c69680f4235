"""Sans-IO NATS protocol core: bytes in, typed events out; pure encoders.

No sockets, threads, clocks or logging live here.
"""
