"""Mail: message building, the outbox, the sender and the local SMTP sink. Knows no other domain."""
