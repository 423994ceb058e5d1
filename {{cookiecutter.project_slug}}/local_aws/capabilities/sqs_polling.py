"""SQS long polling that never holds the state lock while it waits.

moto's ``ReceiveMessage`` waits in a loop that changes the queue (messages in flight) between
waits. Served under the state lock it would block every other request for up to 20 s; served
without it, a snapshot taken meanwhile could see the queue half-changed. Here a long poll is a
series of immediate receives, each under the lock, with the waiting done outside it.
"""

from __future__ import annotations

import time

from moto.sqs.models import SQSBackend

from local_aws.capability import Capability, Context, patch


def install(context: Context) -> None:
    """Make moto's SQS receives lock-aware."""
    patch(SQSBackend, "receive_message", lambda original: _lock_aware(original, context.lock))


def _lock_aware(original, lock):
    def receive_message(
        self,
        queue_name,
        count,
        wait_seconds_timeout,
        visibility_timeout,
        message_attribute_names=None,
    ):
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with lock:
                received = original(
                    self, queue_name, count, 0, visibility_timeout, message_attribute_names
                )
            remaining = deadline - time.monotonic()
            if received or remaining <= 0:
                return received
            self.get_queue(queue_name).wait_for_messages(min(1.0, remaining))

    return receive_message


CAPABILITY = Capability(
    name="SQS long polling",
    unlocked=frozenset({("sqs", "ReceiveMessage")}),
    install=install,
)
