"""The `digest` template per channel in English and German (other languages fall back to English).
Context: `items` (each held message's `subject`, `body` and `created_at`, in order) and `count`."""

from django.db import migrations

TEXT = {
    "en": (
        "Your {{ count }} update{{ count|pluralize }}",
        "Hello {{ customer.name }}, here is what happened:\n"
        "{% for item in items %}\n- {% if item.subject %}{{ item.subject }}: {% endif %}{{ item.body }}{% endfor %}\n\n"
        "Your shop team",
    ),
    "de": (
        "Ihre {{ count }} Neuigkeit{{ count|pluralize:'en' }}",
        "Hallo {{ customer.name }}, das gab es Neues:\n"
        "{% for item in items %}\n- {% if item.subject %}{{ item.subject }}: {% endif %}{{ item.body }}{% endfor %}\n\n"
        "Ihr Shop-Team",
    ),
}
HTML = {
    "en": "<p>Hello {{ customer.name }}, here is what happened:</p><ul>{% for item in items %}"
    "<li>{% if item.subject %}<strong>{{ item.subject }}</strong>: {% endif %}{{ item.body }}</li>{% endfor %}</ul>"
    "<p>Your shop team</p>",
    "de": "<p>Hallo {{ customer.name }}, das gab es Neues:</p><ul>{% for item in items %}"
    "<li>{% if item.subject %}<strong>{{ item.subject }}</strong>: {% endif %}{{ item.body }}</li>{% endfor %}</ul>"
    "<p>Ihr Shop-Team</p>",
}


def templates():
    for language, (subject, body) in TEXT.items():
        yield {"key": "digest", "channel": "email", "language": language, "subject": subject,
               "body_text": body, "body_html": HTML[language]}  # fmt: skip
        yield {"key": "digest", "channel": "telegram", "language": language, "subject": "",
               "body_text": f"{subject}\n{body}", "body_html": ""}  # fmt: skip


def create(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    for fields in templates():
        NotificationTemplate.objects.update_or_create(
            key=fields["key"], channel=fields["channel"], language=fields["language"], defaults=fields
        )


def remove(apps, schema_editor):
    apps.get_model("notifications", "NotificationTemplate").objects.filter(key="digest").delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0012_digests")]

    operations = [migrations.RunPython(create, remove)]
