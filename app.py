"""KAM Analytics — entry point: page config, the shared sidebar, navigation over pages/."""
import streamlit as st

from ui.state import init_language, tr

st.set_page_config(page_title="KAM Analytics", page_icon="📊", layout="wide")

init_language()

PAGES = [
    ("pages/overview.py", "nav_overview", "🏠", True),
    ("pages/concentration.py", "nav_concentration", "📈", False),
    ("pages/key_accounts.py", "nav_key_accounts", "⭐", False),
    ("pages/segments.py", "nav_segments", "🧩", False),
    ("pages/churn.py", "nav_churn", "⚠️", False),
    ("pages/account.py", "nav_account", "🔎", False),
    ("pages/data.py", "nav_data", "📂", False),
]
navigation = st.navigation([
    st.Page(path, title=tr(key), icon=icon, default=default, url_path=path.split("/")[1][:-3])
    for path, key, icon, default in PAGES
])
navigation.run()
