SELECT remove_storage_policies();
