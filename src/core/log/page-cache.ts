/**
 * SQLite's page cache per connection, in KiB: SQLite's own default. better-sqlite3 builds SQLite
 * with 16 MB, which a growing log fills page by page, so the resident set grew with the orders
 * seen until the cache was full. An append touches the table's last page and one path down each
 * index, and reads go a page of rows at a time in seq order: a few MiB hold that, and a page
 * evicted is read back from the OS's file cache.
 */
export const PAGE_CACHE_KIB = 2000
