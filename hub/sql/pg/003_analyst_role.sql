-- Layout 3: a third dashboard role, `analyst` (counts only, small counts
-- suppressed; hub/src/dashboard). The column's CHECK of layout 1 carries
-- PostgreSQL's default name.
ALTER TABLE hub_users DROP CONSTRAINT hub_users_role_check;
ALTER TABLE hub_users ADD CONSTRAINT hub_users_role_check
    CHECK (role IN ('office', 'county', 'analyst'));
