"""Bills record the day of their last action (introduction, referral, floor vote or signature).

Rows seeded before this field get the day of their floor vote, or else of their introduction.
"""

from django.db import migrations, models
from django.db.models import Max, OuterRef, Subquery
from django.db.models.functions import Coalesce


def fill_last_action(apps, schema_editor):
    Bill, Vote = apps.get_model("tracker", "Bill"), apps.get_model("tracker", "Vote")
    voted = Vote.objects.filter(bill=OuterRef("pk")).values("bill").annotate(day=Max("cast_on"))
    Bill.objects.update(last_action_on=Coalesce(Subquery(voted.values("day")), "introduced_on"))


class Migration(migrations.Migration):
    dependencies = [("tracker", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="bill", name="last_action_on", field=models.DateField(null=True)
        ),
        migrations.RunPython(fill_last_action, migrations.RunPython.noop),
        migrations.AlterField(model_name="bill", name="last_action_on", field=models.DateField()),
    ]
