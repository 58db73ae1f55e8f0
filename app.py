"""KAM Analytics — entry point: page config, language, navigation over app_pages/.

The page modules live in app_pages/, not pages/: Streamlit also auto-discovers a pages/ folder
as legacy pages, and a shared link such as /data would then run that page without this entry
point (no navigation menu). Each page draws the shared sidebar itself (ui.state.frame).
"""
import streamlit as st

from ui.auth import gate
from ui.background import page_run
from ui.chrome import install as translate_streamlit
from ui.errors import show_error
from ui.state import init_language, lang, tr
from ui.hardening import install as cut_session_facts
from ui.upload_guard import install as guard_uploads

st.set_page_config(page_title="KAM Analytics", page_icon="📊", layout="wide")
guard_uploads()  # only a session allowed to upload makes the server keep uploaded bytes
cut_session_facts()  # (sessions after this run's: no server path, no Python version)

PAGES = [
    ("app_pages/overview.py", "nav_overview", ":material/home:", True),
    ("app_pages/concentration.py", "nav_concentration", ":material/trending_up:", False),
    ("app_pages/key_accounts.py", "nav_key_accounts", ":material/star:", False),
    ("app_pages/segments.py", "nav_segments", ":material/scatter_plot:", False),
    ("app_pages/churn.py", "nav_churn", ":material/warning:", False),
    ("app_pages/receivables.py", "nav_receivables", ":material/account_balance:", False),
    ("app_pages/account.py", "nav_account", ":material/person_search:", False),
    ("app_pages/reviews.py", "nav_reviews", ":material/fact_check:", False),
    ("app_pages/alerts.py", "nav_alerts", ":material/notifications:", False),
    ("app_pages/data.py", "nav_data", ":material/folder_open:", False),
]
URL_PATHS = [path.split("/")[1][:-3] for path, *_ in PAGES]

init_language()
translate_streamlit(lang())  # (Streamlit's own English: hidden or replaced where a style sheet can)
try:
    gate(URL_PATHS)  # with sign-in configured: nothing but the sign-in screen until signed in with a role
except Exception as error:  # (st.stop is not an Exception: it passes)
    show_error(error, lang())
    st.stop()

navigation = st.navigation([
    st.Page(path, title=tr(key), icon=icon, default=default, url_path=url_path)
    for (path, key, icon, default), url_path in zip(PAGES, URL_PATHS)
])
try:
    with page_run():  # work done ahead gives way meanwhile (ui.background.give_way)
        navigation.run()
except Exception as error:  # (st.stop and st.rerun are not Exceptions: they pass)
    show_error(error, lang())
