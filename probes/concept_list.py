"""Curated emoji whose CLDR "tts" names are plain nouns, grouped by domain (body_health first).

Only the choice of emoji is curated here; every name in every language is read from the
upstream CLDR annotations by :func:`probes.build.build_concepts`.
"""

DOMAINS: dict[str, str] = {
    "body_health": "🩸 💊 💉 🏥 🦷 🫀 🫁 🦠 🌡 🩹 🧠 🦴 🩺 🩻 🩼 🦽 🦼 👁 👂 👃 👄 👅 🦵 🦶 🤰 🧑‍⚕ "
    "🧬 🧫 🧪 🔬 🚑 👓 🧼 🪥 🛏 🚽 🚿 🛁 🧴 💀 🦿 🦾 🤱 🥼 🧽 🪒 🦯 ⚕ 🩲 🫄",
    "food": "🍎 🍌 🍇 🍉 🍊 🍋 🍍 🥭 🍓 🍒 🍑 🥥 🥑 🍆 🥔 🥕 🌽 🌶 🥒 🥬 🧄 🧅 🍄 🥜 🍞 🧀 🥚 🍚 "
    "🍯 🥛 🧂 🫖 🍲 🥗 🍿 🧈 🥐",
    "animals": "🐕 🐁 🐇 🦊 🐻 🐼 🐅 🦁 🐄 🐖 🐸 🐒 🐔 🐧 🐦 🦆 🦅 🦉 🐎 🦄 🐝 🐛 🦋 🐌 🐞 🐜 "
    "🦟 🕷 🦂 🐢 🐍 🦎 🐙 🦀 🐟 🐬 🐋 🦈 🐊 🐘 🦒 🦓 🐪 🐐 🐑 🦌 🐀 🦇 🐈",
    "nature": "🌳 🌲 🌴 🌵 🌾 🌿 🍀 🍁 🍂 🌸 🌹 🌻 🌷 🌼 ☀ 🌙 ⭐ ☁ 🌈 ❄ 🔥 💧 🌊 🌋 ⛰ 🏝 ⚡ 🌪 🌫 🪨 🪵",
    "objects": "🔑 🔨 🪓 🔪 🥄 ✂ 📎 📌 📏 🧲 💡 🔦 🕯 📱 💻 ⌨ 🖨 📷 📺 📻 ⏰ ⌚ 📚 📖 ✏ "
    "🖊 🖌 🎁 🎈 🧸 🪑 🚪 🪟 🧹 🧺 🪣 🧵 🧶 🪡 👕 👖 👗 👟 🧦 🧤 🧣 👜 🎒 ☂ 💍 🪙 💰 "
    "🔔 🥁 🎸 🎻 🎺 🪁 🧭 ⚖ 🔭 📦 ✉ 🗑 🧯 🪜 🪞 🛒 🧷",
    "people_family": "👶 🧒 👦 👧 🧑 👨 👩 🧓 👴 👵 👪 🤴 👸 👮 💂 👷 🧑‍🌾 🧑‍🍳 🧑‍🏫 🧑‍🎓",
    "places": "🏠 🏢 🏤 🏦 🏨 🏪 🏫 🏭 🏰 🕌 ⛪ 🛕 🕍 🏟 ⛺ 🏜 🏔 🏞 🛖 🏕 ⛲ 🛣",
    "transport": "🚗 🚕 🚌 🚓 🚒 🚜 🚲 🛵 🏍 🚂 🚆 🚇 🚊 ✈ 🚁 🚀 ⛵ 🚢 🛶 ⚓ 🛞",
}


def concept_emoji() -> list[tuple[str, str]]:
    """Ordered ``(domain, emoji)`` pairs; CLDR keys carry no U+FE0F, so none are used here."""
    return [(d, e) for d, spec in DOMAINS.items() for e in spec.split()]
