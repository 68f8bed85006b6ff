"""R4 Subscriptions with the rest-hook channel (https://hl7.org/fhir/R4/subscription.html).

``resource.py`` holds the Subscription as clients write it and the server reads it back;
``endpoint.py`` decides where a notification may go; ``rest_hook.py`` sends one;
``subscriber_gate.py`` re-checks the subscriber's registration; ``status.py`` writes the
server's status changes; ``delivery.py`` is the background worker that ties them together.
"""
