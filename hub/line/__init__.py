"""The line: server requests that wait for NPUs, planned with the local batch queue.

A server request that cannot be placed now (a capacity refusal that could change) joins
the line instead of being refused (``user_options`` ``wait``, default true). The line
lives in the platform database (:mod:`.models`, :class:`.store.Line`), so the hub (the
spawner that waits) and the platform service (the one scheduler) both see it. Each tick
of the service's scheduler (:class:`.keeper.LineKeeper`) hands the waiting servers and
the queued local jobs to the one :func:`npuhub.hub.scheduling.plan`, grants the servers
it starts (their devices held in the ledger for them), and writes each waiting request's
position and estimated start (:mod:`.estimate`, pure). The spawner sees its request
granted and starts as usual; Stop leaves the line; a configurable longest wait ends in a
readable refusal.
"""
