"""The life account and messaging (生活号, SPEC §L): posts and the followers' feed, pushes
to segments under the weekly cap, subscription-message templates and consents, the
service notices, and delivery through host-app adapters."""
