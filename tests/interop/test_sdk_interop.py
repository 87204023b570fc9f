"""The official Huawei Cloud Python SDK (huaweicloudsdkbms `ShowJobInfos`) against bms-sim.

A client no one here wrote proves that the simulator speaks the real protocol: its
SDK-HMAC-SHA256 signatures are accepted (the SDK signs content-type, host, user-agent,
x-project-id, x-sdk-date and, with temporary credentials, x-security-token), every job state
parses into the SDK's model, and the gateway's errors reach the SDK as the real ones do.
"""

import re
import time

import pytest
from huaweicloudsdkcore.exceptions import exceptions

from conftest import (
    AK,
    LOCK_AK,
    LOCK_SK,
    LOCKOUT_SECONDS,
    PROJECT_ID,
    SK,
    TEMP_AK,
    TEMP_SK,
    TEMP_TOKEN,
    make_client,
    show_job,
    wait_until,
)

ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

INIT_JOB = "1a00000000000000000000000000000a"
RUNNING_JOB = "2b00000000000000000000000000000b"
SUCCESS_JOB = "3c00000000000000000000000000000c"
FAIL_JOB = "4d00000000000000000000000000000d"
UNPAID_JOB = "5e00000000000000000000000000000e"
QUEUED_JOB = "6f00000000000000000000000000000f"
FLOW_CONTROL_JOB = "7a00000000000000000000000000000a"


def refused(call):
    """Runs `call`, which must raise the SDK's client error; returns it."""
    with pytest.raises(exceptions.ClientRequestException) as caught:
        call()
    return caught.value


def test_init_job(client):
    job = show_job(client, INIT_JOB)
    assert job.status == "INIT"
    assert job.job_id == INIT_JOB
    assert job.job_type == "baremetalAttachVolume"
    assert job.begin_time == ""
    assert job.end_time == ""
    assert job.entities is not None and job.entities.sub_jobs is None
    assert job.error_code is None and job.fail_reason is None


def test_running_job_with_sub_jobs_in_every_state(client):
    job = show_job(client, RUNNING_JOB)
    assert job.status == "RUNNING"
    assert job.job_type == "baremetalBatchCreate"
    assert ISO_MILLIS.match(job.begin_time), job.begin_time
    assert job.end_time == ""
    assert job.error_code is None and job.fail_reason is None
    assert job.entities.sub_jobs_total == 3
    subs = job.entities.sub_jobs
    assert [sub.status for sub in subs] == ["SUCCESS", "RUNNING", "INIT"]
    assert subs[0].entities.server_id == "6f1c0a52-1d7e-4c55-9a6e-1f7b8a3c9d01"
    assert subs[1].entities.server_id == "6f1c0a52-1d7e-4c55-9a6e-1f7b8a3c9d02"
    assert subs[2].entities.server_id is None, "an INIT sub-job has entities {}"
    assert all(sub.job_type == "baremetalSingleCreate" for sub in subs)
    assert all(re.fullmatch(r"[0-9a-f]{32}", sub.job_id) for sub in subs)
    assert ISO_MILLIS.match(subs[0].end_time)
    assert subs[0].error_code is None and subs[0].fail_reason is None
    assert subs[1].end_time == ""


def test_successful_job(client):
    job = show_job(client, SUCCESS_JOB)
    assert job.status == "SUCCESS"
    assert ISO_MILLIS.match(job.begin_time) and ISO_MILLIS.match(job.end_time)
    assert job.end_time >= job.begin_time
    assert job.error_code is None and job.fail_reason is None
    assert job.entities.sub_jobs_total == 2
    assert [sub.status for sub in job.entities.sub_jobs] == ["SUCCESS", "SUCCESS"]
    assert [sub.entities.server_id for sub in job.entities.sub_jobs] == [
        "bae51750-0089-41a1-9b18-5c777978ff6d",
        "bae51750-0089-41a1-9b18-5c777978ff6e",
    ]


def test_failed_job_with_a_failed_sub_job(client):
    job = show_job(client, FAIL_JOB)
    assert job.status == "FAIL"
    assert job.error_code == "BMS.0102"
    assert job.fail_reason == "Sub job fail!"
    assert ISO_MILLIS.match(job.end_time)
    ok, failed = job.entities.sub_jobs
    assert ok.status == "SUCCESS" and ok.error_code is None
    assert failed.status == "FAIL"
    assert failed.error_code == "BMS.0102"
    assert failed.fail_reason == "Insufficient bare metal resources in the selected AZ."
    assert failed.entities.server_id == "7a2d1b63-2e8f-4d66-8b7f-2a8c9b4d0e02"


def test_pending_payment_job(client):
    job = show_job(client, UNPAID_JOB)
    assert job.status == "PENDING_PAYMENT"
    assert job.job_type == "baremetalBatchCreate"
    assert ISO_MILLIS.match(job.begin_time)
    assert job.end_time == ""


def test_unknown_status_is_kept(client):
    job = show_job(client, QUEUED_JOB)
    assert job.status == "QUEUED"
    assert job.job_type == "baremetalBatchOperate"


def test_a_job_lives_through_its_states(sim, client):
    status, created = sim.admin(
        "POST",
        "/admin/jobs",
        {"project_id": PROJECT_ID, "init_for": "2s", "sub_jobs": [{"duration": "1s"}, {"duration": "2s"}]},
    )
    assert status == 201, created
    job_id = created["job_id"]
    seen = []

    def finished():
        job = show_job(client, job_id)
        if not seen or seen[-1] != job.status:
            seen.append(job.status)
        return job.status in ("SUCCESS", "FAIL")

    assert wait_until(30, finished, interval=0.1), seen
    assert seen == ["INIT", "RUNNING", "SUCCESS"], seen


def test_unknown_job_is_common_0011(client):
    error = refused(lambda: show_job(client, "00000000000000000000000000000000"))
    assert error.status_code == 400
    assert error.error_code == "Common.0011"
    assert error.error_msg == "Failed to query system tasks."


def test_wrong_secret_key_is_refused_with_401(sim):
    error = refused(lambda: show_job(make_client(sim, AK, "not-the-secret-key"), SUCCESS_JOB))
    assert error.status_code == 401
    assert error.error_code == "APIG.0301"
    assert error.request_id and re.fullmatch(r"[0-9a-f]{32}", error.request_id)
    # The right key still works (one failure does not lock, and success resets the count).
    assert show_job(make_client(sim, AK, SK), SUCCESS_JOB).status == "SUCCESS"


def test_five_failures_lock_the_key_until_the_lock_expires(sim):
    wrong = make_client(sim, LOCK_AK, "not-the-secret-key")
    right = make_client(sim, LOCK_AK, LOCK_SK)
    for _ in range(5):
        error = refused(lambda: show_job(wrong, SUCCESS_JOB))
        assert (error.status_code, error.error_code) == (401, "APIG.0301")
    locked_at = time.monotonic()
    error = refused(lambda: show_job(right, SUCCESS_JOB))
    assert (error.status_code, error.error_code) == (401, "APIG.0301")
    assert "locked" in error.error_msg
    time.sleep(max(0.0, LOCKOUT_SECONDS + 0.5 - (time.monotonic() - locked_at)))
    assert show_job(right, SUCCESS_JOB).status == "SUCCESS"

    status, counters = sim.admin("GET", "/admin/counters")
    assert status == 200
    key = counters["access_keys"][LOCK_AK]
    assert key["by_outcome"] == {"ok": 1, "auth_failed": 5, "locked": 1}, key
    assert key["longest_auth_failure_streak"] == 6, key
    assert key["consecutive_auth_failures"] == 0, key


def test_temporary_credentials_need_their_token(sim):
    job = show_job(make_client(sim, TEMP_AK, TEMP_SK, TEMP_TOKEN), SUCCESS_JOB)
    assert job.status == "SUCCESS"
    error = refused(lambda: show_job(make_client(sim, TEMP_AK, TEMP_SK), SUCCESS_JOB))
    assert (error.status_code, error.error_code) == (401, "APIG.0301")
    error = refused(lambda: show_job(make_client(sim, TEMP_AK, TEMP_SK, "another-token"), SUCCESS_JOB))
    assert (error.status_code, error.error_code) == (401, "APIG.0301")
    assert show_job(make_client(sim, TEMP_AK, TEMP_SK, TEMP_TOKEN), SUCCESS_JOB).status == "SUCCESS"


def test_the_sdk_does_not_raise_on_flow_control_202(sim, client):
    """Common.0024 comes with HTTP 202: the SDK raises only from 400 on, so it returns a
    response without a status, with the flow-control code in `code`. Clients must check."""
    status, fault = sim.admin(
        "POST", "/admin/faults", {"kind": "flow_control", "job_id": FLOW_CONTROL_JOB, "count": 1}
    )
    assert status == 201, fault
    job = show_job(client, FLOW_CONTROL_JOB)
    assert job.status_code == 202
    assert job.status is None
    assert job.code == "Common.0024"
    assert show_job(client, FLOW_CONTROL_JOB).status == "RUNNING"


def test_throttling_reaches_the_sdk_as_429_and_its_retry_honours_retry_after(sim, client):
    """The SDK sends 429s through urllib3's retry (status_forcelist [429]): without retries it
    raises 429 with error_code "429" (APIG.0308 from the body is lost); with one retry it waits
    for Retry-After and gets the job."""
    status, fault = sim.admin(
        "POST",
        "/admin/faults",
        {"kind": "throttle", "job_id": FLOW_CONTROL_JOB, "count": 1, "retry_after_seconds": 1},
    )
    assert status == 201, fault
    error = refused(lambda: show_job(client, FLOW_CONTROL_JOB))
    assert (error.status_code, error.error_code) == (429, "429")
    assert show_job(client, FLOW_CONTROL_JOB).status == "RUNNING"

    status, fault = sim.admin(
        "POST",
        "/admin/faults",
        {"kind": "throttle", "job_id": FLOW_CONTROL_JOB, "count": 1, "retry_after_seconds": 1},
    )
    assert status == 201, fault
    retrying = make_client(sim, AK, SK, retry_times=1)
    started = time.monotonic()
    assert show_job(retrying, FLOW_CONTROL_JOB).status == "RUNNING"
    assert time.monotonic() - started >= 0.9, "Retry-After was honoured"
