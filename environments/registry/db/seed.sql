-- Deterministic seed data: 200 clerks (password "drill"), 2,000 residents.

INSERT INTO clerks (username, display_name, office, password_hash)
SELECT u,
       'Sachbearbeitung ' || lpad(n::text, 3, '0'),
       'Bürgerbüro ' || (ARRAY['Mitte', 'Nord', 'Süd', 'Ost', 'West'])[1 + n % 5],
       'sha256$' || u || '$' || encode(sha256(convert_to(u || ':' || 'drill', 'UTF8')), 'hex')
FROM generate_series(1, 200) AS n,
     LATERAL (SELECT 'clerk-' || lpad(n::text, 3, '0') AS u) AS x;

WITH names AS (
    SELECT ARRAY['Müller','Schmidt','Schneider','Fischer','Weber','Meyer','Wagner','Becker','Schulz',
                 'Hoffmann','Schäfer','Koch','Bauer','Richter','Klein','Wolf','Schröder','Neumann',
                 'Schwarz','Zimmermann','Braun','Krüger','Hofmann','Hartmann','Lange','Schmitt',
                 'Werner','Schmitz','Krause','Meier','Lehmann','Schmid','Schulze','Maier','Köhler',
                 'Herrmann','König','Walter','Mayer','Huber','Kaiser','Fuchs','Peters','Lang',
                 'Scholz','Möller','Weiß','Jung','Hahn','Yılmaz','Kowalski','Nowak','Rossi'] AS family,
           ARRAY['Anna','Ben','Clara','David','Emma','Felix','Greta','Hannah','Ida','Jonas','Karl',
                 'Lea','Mia','Noah','Olga','Paul','Quirin','Rosa','Sofia','Tom','Ute','Volker',
                 'Wilma','Xaver','Yusuf','Zeynep','Ayşe','Jürgen','Małgorzata','Luca'] AS given,
           ARRAY['Hauptstraße','Schulstraße','Gartenstraße','Bahnhofstraße','Dorfstraße',
                 'Bergstraße','Birkenweg','Lindenstraße','Kirchstraße','Waldstraße','Ringstraße',
                 'Am Markt','Rathausplatz','Mühlenweg','Friedhofstraße'] AS street
)
INSERT INTO residents (id, family_name, given_name, birth_date, address)
SELECT n,
       family[1 + (n * 7) % array_length(family, 1)],
       given[1 + (n * 13) % array_length(given, 1)],
       date '1930-01-01' + ((n * 9973) % 32000),
       street[1 + (n * 3) % array_length(street, 1)] || ' ' || (1 + n % 120) || ', '
           || (10115 + (n * 37) % 2000) || ' Musterstadt'
FROM names, generate_series(1, 2000) AS n;
