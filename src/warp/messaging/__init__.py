"""Messaging: SMS/MMS send and receive, MDRs, opt-outs, 10DLC, inbound routing and signed webhooks."""
