"""The testbed: the experiment against a real server on loopback (docs/testbed.md).

``server`` is an aiohttp application implementing the five mechanisms with the
wire formats the model counts; ``loadgen`` is the load generator of real asyncio
clients; ``run`` starts, pins, crashes and stops the server and turns what was
measured into the metric names of a simulated run; ``calibrate`` fits the
``[server]`` costs from a few testbed runs.
"""
