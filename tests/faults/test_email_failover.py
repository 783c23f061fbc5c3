"""Provider failover with real processes (DESIGN section 13): a worker sends through the SMTP sink
(primary) with a fake Postmark API as backup; the sink is stopped mid-run, and every message still
arrives exactly once, the later ones through the backup."""

from collections import Counter
from collections.abc import Callable

from apps.notifications.channels.email import EmailChannel
from apps.notifications.models import Delivery, DeliveryAttempt
from tests.fakes.esp import TOKEN, FakePostmark
from tests.fakes.outbox import outbox_backlog
from tests.fakes.smtp import FakeSMTP
from tests.fakes.stack import Stack
from tests.fakes.worker import wait_for


class FailoverMail(EmailChannel):
    """Email under a name of its own: only the private worker of this test drains it."""

    name = "failover-mail"


CHANNELS = f"email=apps.notifications.channels.email.EmailChannel,failover-mail={__name__}.FailoverMail"


def backlog(start: int, count: int) -> None:
    outbox_backlog("failover-mail", [f"r{n}@example.com" for n in range(start, start + count)])


def sent() -> int:
    return Delivery.objects.filter(channel="failover-mail", status="sent").count()


def test_with_the_sink_down_the_rest_reach_the_backup_each_once(stacks: Callable[..., Stack]) -> None:
    sink, esp = FakeSMTP().start(), FakePostmark()
    try:
        stacks(
            fake_smtp=sink,
            beat=True,
            queues="default,notifications.failover-mail",
            NOTIFICATION_CHANNELS=CHANNELS,
            NOTIFICATION_SWEEP_INTERVAL="1",
            EMAIL_PROVIDERS="primary=smtp,backup=postmark",
            ANYMAIL_POSTMARK_SERVER_TOKEN=TOKEN,
            ANYMAIL_POSTMARK_API_URL=esp.url,
            CIRCUIT_FAILURE_THRESHOLD="3",
            CIRCUIT_RESET_TIMEOUT="60",
        )
        backlog(0, 20)
        assert wait_for(lambda: sent() == 20, timeout=60)
        sink.stop()  # the primary goes down: its connections are refused
        backlog(20, 30)
        assert wait_for(lambda: sent() == 50, timeout=60)
    finally:
        esp.stop()

    through_sink = [str(m["To"]) for m in sink.messages]
    through_esp = esp.recipients()
    arrived = Counter(through_sink + through_esp)
    assert sorted(arrived) == sorted(f"r{n}@example.com" for n in range(50))
    assert set(arrived.values()) == {1}  # none twice
    assert set(through_sink) == {f"r{n}@example.com" for n in range(20)}
    later = Delivery.objects.filter(channel="failover-mail", address__in=through_esp)
    assert set(later.values_list("provider", flat=True)) == {"backup"}
    # The primary was tried until its circuit opened (3 failures per worker process at most), not
    # once per message.
    hops = DeliveryAttempt.objects.filter(delivery__in=later, provider="primary").count()
    print(f"\nsink down: 30 messages through the backup, {hops} calls to the primary first")
    assert 1 <= hops <= 6
