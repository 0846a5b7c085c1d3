"""The live side: coaching while the call happens.

`capture` brings audio in (a PortAudio device or a file played as if live); `session` turns it
into events as it arrives, wiring `stream` (who speaks when), `recognition` (a recogniser
worker with bounded work) and `watchers` (one small class per rule, raising `events`); and
`view` shows them to the agent.
"""
