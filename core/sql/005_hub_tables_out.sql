-- Layout 5: enrolment tokens and enrolled keys are the hub's.
-- silin-hub lays them out itself where it serves (hub/sql/sqlite/), so a
-- phone's store carries no hub table. The step after this file (in
-- store/schema.rs) drops them from a store that never served as a hub; a
-- hub's file keeps them as they are, rows and all.
SELECT 1;
