"""The unit ``exec`` and ``serve`` run: our own container credentials endpoint and a supervisor.

:mod:`.server` answers the SDKs' credential requests (:mod:`.wire` holds its HTTP details and
limits, :mod:`.probes` the paths answered without the token, :mod:`.health` and
:mod:`.metrics` what those answer); :mod:`.supervise` runs one command as a process
supervisor (signals forwarded, the exit status passed on). The library never imports this
package; the CLI does.
"""
