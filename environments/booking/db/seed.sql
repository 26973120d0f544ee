-- Four citizen offices and one quarter of slots: 13 weeks (Mon 2026-01-05 .. Fri 2026-04-03),
-- Monday to Friday, 10-minute slots per counter, 08:00-16:00 and on Thursdays 08:00-18:00
-- (the "longer booking hours" stop-gap of the 2023 overload).
-- Per counter and week: 4 x 48 + 60 = 252 slots; 12 counters x 13 weeks x 252 = 39,312 slots.

INSERT INTO offices (id, name, address, counters, opening_hours) VALUES
    (1, 'Bürgerbüro Mitte', 'Rathausplatz 1',  4, 'Mo-Fr 08:00-16:00, Do 08:00-18:00'),
    (2, 'Bürgerbüro Nord',  'Nordring 12',     3, 'Mo-Fr 08:00-16:00, Do 08:00-18:00'),
    (3, 'Bürgerbüro Süd',   'Südallee 5',      3, 'Mo-Fr 08:00-16:00, Do 08:00-18:00'),
    (4, 'Bürgerbüro West',  'Am Westend 30',   2, 'Mo-Fr 08:00-16:00, Do 08:00-18:00');

INSERT INTO slots (id, office_id, counter, starts_at)
SELECT row_number() OVER (ORDER BY o.id, d.day, t.minute, c.counter),
       o.id, c.counter, d.day + make_interval(mins => t.minute)
FROM offices o
CROSS JOIN LATERAL generate_series(1, o.counters) AS c (counter)
CROSS JOIN generate_series(timestamp '2026-01-05', timestamp '2026-04-03', interval '1 day') AS d (day)
CROSS JOIN generate_series(8 * 60, 18 * 60 - 10, 10) AS t (minute)
WHERE extract(isodow FROM d.day) <= 5
  AND t.minute < CASE WHEN extract(isodow FROM d.day) = 4 THEN 18 * 60 ELSE 16 * 60 END;
