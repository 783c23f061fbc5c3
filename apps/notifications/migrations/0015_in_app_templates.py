"""in_app versions of the seeded templates (DESIGN 15): each order event and the digest, in English
and German; the subject is the inbox item's title and the text its body."""

import importlib

from django.db import migrations

seeded = importlib.import_module("apps.notifications.migrations.0002_default_templates")


def templates():
    for key, languages in seeded.MESSAGES.items():
        for language, (subject, sentence) in languages.items():
            total = f"{seeded.TOTAL[language]}: {{{{ order.total }}}} {{{{ order.currency }}}}"
            body = f"{seeded.GREETING[language]} {{{{ customer.name }}}}, {sentence}\n{total}"
            yield {"key": key, "language": language, "subject": subject, "body_text": body}
    yield {
        "key": "digest",
        "language": "en",
        "subject": "Your {{ count }} update{{ count|pluralize }}",
        "body_text": "{% for item in items %}- {% if item.subject %}{{ item.subject }}: {% endif %}"
        "{{ item.body }}\n{% endfor %}",
    }
    yield {
        "key": "digest",
        "language": "de",
        "subject": "Ihre {{ count }} Neuigkeit{{ count|pluralize:'en' }}",
        "body_text": "{% for item in items %}- {% if item.subject %}{{ item.subject }}: {% endif %}"
        "{{ item.body }}\n{% endfor %}",
    }


def create(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    for fields in templates():
        NotificationTemplate.objects.update_or_create(
            key=fields["key"], channel="in_app", language=fields["language"], defaults={**fields, "body_html": ""}
        )


def remove(apps, schema_editor):
    apps.get_model("notifications", "NotificationTemplate").objects.filter(channel="in_app").delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0014_email_providers")]

    operations = [migrations.RunPython(create, remove)]
