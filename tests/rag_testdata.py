"""Small articles and a writer shared by the unit tests (a module, not conftest, so imports are unambiguous)."""

from pathlib import Path


def write_article(folder: Path, name: str, body: str, title: str = "", published: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    front = f"---\ntitle: {title or name}\noutlet: Test Wire\npublished: '{published or '2024-01-01'}'\n---\n"
    p.write_text(front + body, encoding="utf-8")
    return p


ARTICLES = {
    "syria.md": (
        "Russia began air strikes in Syria on Sept. 30 after a unanimous vote in the upper house. "
        "Putin wanted to end Russia's isolation from the West.\n\n"
        "The U.S. said contact would be limited to technical talks. "
        "Defense Secretary Ash Carter spoke at a briefing on Oct. 7."
    ),
    "iran.md": (
        "The general was killed by a drone in Baghdad. Russia's Defense Ministry praised his contribution.\n\n"
        "Putin expressed concern to the French president. He invited the German chancellor to Moscow."
    ),
    "oil.md": (
        "Oil prices fell sharply this year. The budget had to be cut and investments frozen.\n\n"
        "Sanctions made the recession worse, economists said."
    ),
}
