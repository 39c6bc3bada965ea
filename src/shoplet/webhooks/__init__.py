"""Webhooks for merchants' own systems (SPEC L4): endpoints, the event catalogue, signed
deliveries with retries, every attempt kept, replay and ping."""
