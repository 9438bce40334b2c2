"""What each top-level section is for, shown on the home page and on a section's empty state."""

SECTIONS = {
    "surveys": {
        "url_name": "surveys:list",
        "title": "Surveys",
        "qualtrics": "Projects",
        "summary": "Build surveys, publish them and read the responses.",
    },
    "directory": {
        "url_name": "directory:contacts",
        "title": "Directory",
        "qualtrics": "XM Directory",
        "summary": "Contacts, mailing lists, transactions and deduplication rules.",
    },
    "workflows": {
        "url_name": "workflows:list",
        "title": "Workflows",
        "qualtrics": "Workflows",
        "summary": "Start tasks when Salesforce, Segment or a JSON event arrives, and see every run.",
    },
    "distributions": {
        "url_name": "distributions:list",
        "title": "Distributions",
        "qualtrics": "Distributions",
        "summary": "Email and SMS invitations, reminders and their delivery history.",
    },
    "extensions": {
        "url_name": "web:extensions",
        "title": "Extensions",
        "qualtrics": "Extensions",
        "summary": "Linked Salesforce accounts, Twilio and Segment connections.",
    },
}
