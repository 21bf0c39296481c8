"""Current-awareness digests: subscriptions, composition, citations, exports, preference pages."""
