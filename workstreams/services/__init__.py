"""Use cases of the work layer, one module per subject: ``conversations`` (reply, wait, end, close),
``routing`` (rules and diagnosis), ``distribution`` (capacity, assignment, pick, take, transfer, presence),
``bots``, ``automated`` (automated messages), ``hours`` (operating hours), ``autoclose``, and ``access``
(who may see and do what: agents, supervisors, administrators)."""

from .conversations import (
    conversation_close,
    conversation_end,
    conversation_force_close,
    conversation_message_retry,
    conversation_reply,
    conversation_resume,
    conversation_send_template,
    conversation_wait,
)
from .distribution import (
    agent_presence_set,
    assignment_cycle,
    conversation_pick_next,
    conversation_reassign,
    conversation_take,
    conversation_transfer,
)

__all__ = [
    "agent_presence_set",
    "assignment_cycle",
    "conversation_close",
    "conversation_end",
    "conversation_force_close",
    "conversation_message_retry",
    "conversation_pick_next",
    "conversation_reassign",
    "conversation_reply",
    "conversation_resume",
    "conversation_send_template",
    "conversation_take",
    "conversation_transfer",
    "conversation_wait",
]
