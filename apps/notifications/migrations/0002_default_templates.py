"""Default templates for order_created and every order status, in English and German."""

from django.db import migrations

SIGN_OFF = {"en": "Your shop team", "de": "Ihr Shop-Team"}

# key -> language -> (subject, sentence)
MESSAGES = {
    "order_created": {
        "en": ("We received your order {{ order.number }}", "thank you for your order {{ order.number }}."),
        "de": ("Wir haben Ihre Bestellung {{ order.number }} erhalten", "vielen Dank für Ihre Bestellung {{ order.number }}."),
    },
    "order_confirmed": {
        "en": ("Order {{ order.number }} is confirmed", "your order {{ order.number }} is confirmed."),
        "de": ("Bestellung {{ order.number }} ist bestätigt", "Ihre Bestellung {{ order.number }} ist bestätigt."),
    },
    "order_processing": {
        "en": ("We are packing order {{ order.number }}", "we are now packing your order {{ order.number }}."),
        "de": ("Wir packen Bestellung {{ order.number }}", "wir packen jetzt Ihre Bestellung {{ order.number }}."),
    },
    "order_shipped": {
        "en": ("Order {{ order.number }} is on its way", "your order {{ order.number }} has been shipped."),
        "de": ("Bestellung {{ order.number }} ist unterwegs", "Ihre Bestellung {{ order.number }} wurde versandt."),
    },
    "order_delivered": {
        "en": ("Order {{ order.number }} was delivered", "your order {{ order.number }} was delivered. Enjoy!"),
        "de": ("Bestellung {{ order.number }} wurde zugestellt", "Ihre Bestellung {{ order.number }} wurde zugestellt. Viel Freude!"),
    },
    "order_cancelled": {
        "en": ("Order {{ order.number }} was cancelled", "your order {{ order.number }} was cancelled."),
        "de": ("Bestellung {{ order.number }} wurde storniert", "Ihre Bestellung {{ order.number }} wurde storniert."),
    },
}
GREETING = {"en": "Hello", "de": "Hallo"}
TOTAL = {"en": "Total", "de": "Summe"}

ITEMS_TEXT = "{% for item in order.items %}\n- {{ item.quantity }} x {{ item.name }}{% endfor %}"
ITEMS_HTML = "<ul>{% for item in order.items %}<li>{{ item.quantity }} &times; {{ item.name }}</li>{% endfor %}</ul>"


def templates():
    for key, languages in MESSAGES.items():
        for language, (subject, sentence) in languages.items():
            greeting = f"{GREETING[language]} {{{{ customer.name }}}}, {sentence}"
            total = f"{TOTAL[language]}: {{{{ order.total }}}} {{{{ order.currency }}}}"
            yield {
                "key": key,
                "channel": "email",
                "language": language,
                "subject": subject,
                "body_text": f"{greeting}\n{ITEMS_TEXT}\n\n{total}\n\n{SIGN_OFF[language]}\n",
                "body_html": f"<p>{greeting}</p>{ITEMS_HTML}<p>{total}</p><p>{SIGN_OFF[language]}</p>",
            }
            yield {
                "key": key,
                "channel": "telegram",
                "language": language,
                "subject": "",
                "body_text": f"{greeting}\n{total}",
                "body_html": "",
            }


def create(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    for fields in templates():
        NotificationTemplate.objects.update_or_create(
            key=fields["key"], channel=fields["channel"], language=fields["language"], defaults=fields
        )


def remove(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    NotificationTemplate.objects.filter(key__in=list(MESSAGES)).delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]
