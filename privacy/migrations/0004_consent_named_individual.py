"""Part 2 consent may name an individual recipient (42 CFR 2.31 allows a named person), such as a
family member who called about the person."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0003_disclosure_ledger_append_only"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="part2consent",
            name="part2_consent_names_recipient",
        ),
        migrations.AlterField(
            model_name="disclosure",
            name="recipient_type",
            field=models.CharField(
                choices=[
                    ("partner", "A referral partner"),
                    ("vob_company", "An outside verification-of-benefits company"),
                    ("provider", "Another provider, by name"),
                    ("individual", "A named individual, such as a family member who called"),
                    ("tpo", "A treatment, payment or health care operations class"),
                ],
                max_length=12,
            ),
        ),
        migrations.AlterField(
            model_name="part2consent",
            name="recipient_type",
            field=models.CharField(
                choices=[
                    ("partner", "A referral partner"),
                    ("vob_company", "An outside verification-of-benefits company"),
                    ("provider", "Another provider, by name"),
                    ("individual", "A named individual, such as a family member who called"),
                    ("tpo", "A treatment, payment or health care operations class"),
                ],
                max_length=12,
            ),
        ),
        migrations.AddConstraint(
            model_name="part2consent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("recipient_type", "partner"), ("recipient_partner__isnull", False)),
                    models.Q(
                        ("recipient_type__in", ["vob_company", "provider", "individual"]),
                        models.Q(("recipient_name", ""), _negated=True),
                    ),
                    models.Q(("recipient_type", "tpo"), models.Q(("tpo_class", ""), _negated=True)),
                    _connector="OR",
                ),
                name="part2_consent_names_recipient",
            ),
        ),
    ]
