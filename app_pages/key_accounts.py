"""key accounts page: what it will show is stated until its analysis lands."""
import streamlit as st

from ui.state import frame, tr
from ui.widgets import no_dataset

view = frame("key_accounts_title")
if view.dataset is None:
    no_dataset()
    st.stop()
st.info(tr("key_accounts_placeholder"))
