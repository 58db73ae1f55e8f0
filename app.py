"""KAM Analytics — entry point: page config, language, navigation over app_pages/.

The page modules live in app_pages/, not pages/: Streamlit also auto-discovers a pages/ folder
as legacy pages, and a shared link such as /data would then run that page without this entry
point (no navigation menu). Each page draws the shared sidebar itself (ui.state.frame).
"""
import streamlit as st

from ui.state import init_language, tr

st.set_page_config(page_title="KAM Analytics", page_icon="📊", layout="wide")

init_language()

PAGES = [
    ("app_pages/overview.py", "nav_overview", "🏠", True),
    ("app_pages/concentration.py", "nav_concentration", "📈", False),
    ("app_pages/key_accounts.py", "nav_key_accounts", "⭐", False),
    ("app_pages/segments.py", "nav_segments", "🧩", False),
    ("app_pages/churn.py", "nav_churn", "⚠️", False),
    ("app_pages/account.py", "nav_account", "🔎", False),
    ("app_pages/data.py", "nav_data", "📂", False),
]
navigation = st.navigation([
    st.Page(path, title=tr(key), icon=icon, default=default, url_path=path.split("/")[1][:-3])
    for path, key, icon, default in PAGES
])
navigation.run()
