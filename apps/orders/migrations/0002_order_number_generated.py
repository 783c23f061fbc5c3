"""The order number becomes a stored generated column (ORD- and the zero-padded id), computed by the
database at insert time. A column cannot be altered into a generated one, so it is dropped and added
again; the database computes the same values the application used to write."""

from django.db import migrations, models

import apps.orders.models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(model_name="order", name="number"),
        migrations.AddField(
            model_name="order",
            name="number",
            field=models.GeneratedField(
                db_persist=True,
                expression=apps.orders.models.OrderNumber(),
                output_field=models.CharField(max_length=32),
                unique=True,
            ),
        ),
    ]
