"""`voiceagent up` restarts a service that died, without hammering one that keeps dying."""

from services.cli.call_commands import RestartPolicy


def test_a_dead_service_restarts_at_once_then_with_growing_pauses():
    policy = RestartPolicy(first_delay=1.0, max_delay=30.0)
    assert policy.due("stt", now=0.0)
    assert not policy.due("stt", now=0.5) and policy.due("stt", now=1.0)
    assert not policy.due("stt", now=2.5) and policy.due("stt", now=3.0)
    assert not policy.due("stt", now=6.9) and policy.due("stt", now=7.0)
    assert policy.due("tts", now=7.0)  # each service on its own
    restarted_at = [t for t in range(8, 400) if policy.due("stt", now=float(t))]
    gaps = [later - earlier for earlier, later in zip(restarted_at, restarted_at[1:])]
    assert restarted_at[0] == 15 and gaps[0] == 16 and set(gaps[1:]) == {30}  # then at most one restart in 30 s


def test_simulated_calls_at_the_same_time_each_get_a_recording_port_the_local_gateway_allows(monkeypatch):
    from services.cli.call_commands import _recording_ports, _recording_server, local_gateway_env
    from services.cli.launcher import free_port

    monkeypatch.setenv("VOICEAGENT_CALL_RECORDING_PORT", str(free_port()))
    first, second = _recording_server("AC1", "token"), _recording_server("AC1", "token")
    try:
        assert first.base_url != second.base_url
        allowlist = local_gateway_env(_recording_ports())["RECORDING_URL_ALLOWLIST"]
        assert first.base_url in allowlist and second.base_url in allowlist
    finally:
        first.close()
        second.close()
