"""What each top-level section is for, shown on the home page and on a section's empty state."""

SECTIONS = {
    "surveys": {
        "title": "Surveys",
        "qualtrics": "Projects",
        "summary": "Build surveys, publish them and read the responses.",
    },
    "directory": {
        "title": "Directory",
        "qualtrics": "XM Directory",
        "summary": "Contacts, mailing lists, transactions and deduplication rules.",
    },
    "workflows": {
        "title": "Workflows",
        "qualtrics": "Workflows",
        "summary": "Start tasks when Salesforce, Segment or a JSON event arrives, and see every run.",
    },
    "distributions": {
        "title": "Distributions",
        "qualtrics": "Distributions",
        "summary": "Email and SMS invitations, reminders and their delivery history.",
    },
    "extensions": {
        "title": "Extensions",
        "qualtrics": "Extensions",
        "summary": "Linked Salesforce accounts, Twilio and Segment connections.",
    },
}
