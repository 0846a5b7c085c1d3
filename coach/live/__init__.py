"""The live side: coaching while the call happens.

`capture` brings audio in (a PortAudio device or a file played as if live), `session`
turns it into events as it arrives, and `view` shows them to the agent.
"""
